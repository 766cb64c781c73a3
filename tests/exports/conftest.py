"""The reconciler's tests share a real app database per module (SQLite and PostgreSQL) and the session's
Prefect test server with the work pool and export deployment set up."""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import SyncPrefectClient, get_client
from sqlalchemy.orm import Session, sessionmaker

from deployments.prefect_setup import set_up_prefect
from flows.appdb import migrations
from flows.appdb.engine import make_engine, session_factory
from flows.settings import Settings

LEASE_SECONDS = 10


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    make_postgres_database: Callable[[str], str],
) -> str:
    """A migrated app database of this module alone, so a pass sees no other module's rows."""
    module = request.module.__name__.rsplit(".", 1)[-1]
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp(module) / 'app.db'}"
    else:
        url = make_postgres_database(module)
    migrations.upgrade(url)
    return url


@pytest.fixture(scope="module")
def sessions(database: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database)
    yield session_factory(engine)
    engine.dispose()


def prepared_settings(database: str, prefect_api: str, home: Path, **fields: Any) -> Settings:
    """Settings on this app database and the Prefect API, with the work pool and export deployment set up
    there."""
    settings = Settings(home=home, database_url=database, prefect_api_url=prefect_api, **fields)
    with get_client(sync_client=True) as client:
        set_up_prefect(client, settings)
    return settings


@pytest.fixture(scope="module")
def settings(database: str, prefect_api: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    home = tmp_path_factory.mktemp("home")
    return prepared_settings(
        database, prefect_api, home, heartbeat_lease_seconds=LEASE_SECONDS, max_attempts=3
    )


@pytest.fixture
def client() -> Iterator[SyncPrefectClient]:
    with get_client(sync_client=True) as client:
        yield client
