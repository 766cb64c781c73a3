"""An API app per test on the session's app databases (SQLite and PostgreSQL), and callers of each role."""

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from flows.db import make_engine, session_factory, transaction
from flows.domain import Role
from flows.identity import create_user, issue_api_token
from flows.settings import Settings
from flows.sources import Source


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
        dispatch_interval_seconds=3600,
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
def make_caller(api_settings: Settings) -> Iterator[MakeCaller]:
    """Creates a fresh user of a role (unique email) with an API token, in the test's app database."""
    engine = make_engine(api_settings.database_url)
    sessions = session_factory(engine)

    def make(role: Role) -> Caller:
        email = f"{role.value}-{uuid.uuid4().hex[:10]}@example.com"
        with transaction(sessions) as session:
            user = create_user(session, email, role, first_name=role.value.title(), last_name="Tester")
            _, secret = issue_api_token(session, user, "tests")
            return Caller(id=user.id, email=user.email, role=role, token=secret)

    yield make
    engine.dispose()


@pytest.fixture
def manager(make_caller: MakeCaller) -> Caller:
    return make_caller(Role.MANAGER)


@pytest.fixture
def admin(make_caller: MakeCaller) -> Caller:
    return make_caller(Role.ADMIN)


@pytest.fixture
def super_admin(make_caller: MakeCaller) -> Caller:
    return make_caller(Role.SUPER_ADMIN)
