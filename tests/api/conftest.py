"""An API app per test on the session's app databases (SQLite and PostgreSQL), and callers of each role."""

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from flows.appdb.engine import make_engine, session_factory, transaction
from flows.appdb.identity import create_user, issue_api_token
from flows.appdb.models import User
from flows.exports.creation import create_export
from flows.exports.lifecycle import RunResult, begin_export, complete_export
from flows.exports.requests import ExportRequest
from flows.pipeline.file_names import export_file_name
from flows.pipeline.preview import PreviewRows
from flows.pipeline.sources import Source
from flows.render import RenderOptions, renderer_for
from flows.settings import Settings
from flows.storage.keys import export_key
from flows.storage.store import open_storage
from flows.vocabulary import ExportFormat, Role
from tests.network import free_port

if TYPE_CHECKING:
    from tests.conftest import StageRows


@dataclass(frozen=True)
class Caller:
    """A user of one role with an API token; `headers` authenticate a request as them."""

    id: uuid.UUID
    email: str
    role: Role
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


MakeCaller = Callable[[Role], Caller]
MakeExport = Callable[..., uuid.UUID]
COLUMNS = ["order_number", "sale_date", "customer_name", "total_amount"]


@pytest.fixture
def api_settings(database_url: str, tmp_path: Path, duckdb_warehouse: Source) -> Settings:
    """Settings of a test app: this test's app database, the session's DuckDB warehouse, files under
    tmp_path, generous rate limits (tests of the limits set their own), no Prefect unless a test says so."""
    return Settings(
        home=tmp_path / "home",
        database_url=database_url,
        source_url=str(duckdb_warehouse.duckdb_path),
        rate_limit_requests=100_000,
        rate_limit_create_requests=100_000,
        status_rate_limit_requests=100_000,
        download_rate_limit_requests=100_000,
        reconcile_interval_seconds=3600,
    )


@pytest.fixture
def make_client() -> Iterator[Callable[[Settings], TestClient]]:
    """Starts apps (lifespan included) on given settings; all are stopped after the test."""
    clients: list[TestClient] = []

    def make(settings: Settings) -> TestClient:
        client = TestClient(create_app(settings), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[[Settings], TestClient], api_settings: Settings) -> TestClient:
    return make_client(api_settings)


@pytest.fixture
def make_caller(sessions: sessionmaker[Session]) -> MakeCaller:
    """Creates a fresh user of a role (unique email) with an API token, in the test's app database."""

    def make(role: Role) -> Caller:
        email = f"{role.value}-{uuid.uuid4().hex[:10]}@example.com"
        with transaction(sessions) as session:
            user = create_user(session, email, role, first_name=role.value.title(), last_name="Tester")
            _, secret = issue_api_token(session, user, "tests")
            return Caller(id=user.id, email=user.email, role=role, token=secret)

    return make


@pytest.fixture
def manager(make_caller: MakeCaller) -> Caller:
    return make_caller(Role.MANAGER)


@pytest.fixture
def admin(make_caller: MakeCaller) -> Caller:
    return make_caller(Role.ADMIN)


@pytest.fixture
def super_admin(make_caller: MakeCaller) -> Caller:
    return make_caller(Role.SUPER_ADMIN)


@pytest.fixture
def sessions(api_settings: Settings) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(api_settings.database_url)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture
def make_export(sessions: sessionmaker[Session], stage_rows: "StageRows", tmp_path: Path) -> MakeExport:
    """Makes a completed export of `owner` through the record path (its preview too), stored under
    `settings`."""

    def make(
        settings: Settings,
        owner: Caller,
        *,
        name: str = "Q1 sales",
        export_format: ExportFormat = ExportFormat.CSV,
        options: dict[str, Any] | None = None,
    ) -> uuid.UUID:
        request = ExportRequest.validated(
            {
                "export_name": name,
                "export_type": "sales",
                "format": export_format,
                "columns": COLUMNS,
                "options": options or {},
            }
        )
        with transaction(sessions) as session:
            export_id = create_export(session, request, session.get_one(User, owner.id)).id
        job = begin_export(sessions, export_id, None, settings)
        renderer = renderer_for(job.format)
        file_name = export_file_name(job.name, job.started_at, renderer.EXTENSION)
        target = tmp_path / f"{export_id}-{file_name}"
        staged = stage_rows("sales", columns=COLUMNS)
        render_options = RenderOptions(**request.options.model_dump(), title=job.name, export_type="sales")
        renderer.render(staged, target, render_options)
        key = export_key(job.export_type.value, job.started_at, job.id, file_name)
        stored = open_storage(settings).upload(target, key, renderer.MEDIA_TYPE)
        previewer = PreviewRows(staged.schema, settings.email_preview_rows)
        for batch in staged:
            previewer.add(batch)
        result = RunResult(
            staged.expected_rows,
            stored.size,
            stored.sha256,
            stored.key,
            stored.location,
            preview=previewer.preview(),
        )
        complete_export(sessions, job, result, settings)
        return export_id

    return make


@pytest.fixture(params=["local", "s3"])
def storage_settings(request: pytest.FixtureRequest, api_settings: Settings) -> Settings:
    """The test's app settings storing files locally (under tmp_path) or in a new bucket on moto (the
    module using it lists tests.fixtures_s3 in its pytest_plugins)."""
    if request.param == "local":
        return api_settings
    bucket: str = request.getfixturevalue("s3_bucket")
    endpoint: str = request.getfixturevalue("s3_endpoint")
    return api_settings.model_copy(
        update={"storage_url": f"s3://{bucket}/files", "s3_endpoint_url": endpoint}
    )


@contextmanager
def uvicorn_serving(settings: Settings, port: int) -> Iterator[None]:
    """The app on `settings` under uvicorn in a thread of this process, on `port`, until the block ends."""
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    served = uvicorn.Server(config)
    thread = threading.Thread(target=served.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not served.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield
    finally:
        served.should_exit = True
        thread.join(10)


@pytest.fixture
def server(api_settings: Settings) -> Iterator[str]:
    """The app under uvicorn in a thread of this process; its base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with uvicorn_serving(api_settings.model_copy(update={"api_public_url": base}), port):  # links point here
        yield base
