"""Session-wide real services: one PostgreSQL server (own databases per session), demo warehouses."""

import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import psycopg
import pyarrow as pa
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from flows.appdb import migrations
from flows.appdb.engine import make_engine
from flows.catalog.query import build_query
from flows.pipeline.extract import stream_batches
from flows.pipeline.sources import Source, SourceKind, parse_source
from flows.render.rows import Rows
from flows.vocabulary import ExportType

POSTGRES_ADMIN_URL = os.environ.get(
    "EXPORTFLOW_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
WAREHOUSE_ROWS = 3000

OWN_STACK_TESTS = ("tests/test_up.py::", "tests/drills/")
"""Tests that start a whole stack of their own and take it down when they end."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Whole-stack tests last: those with a stack of their own (`exportflow up`, the drills' clusters)
    first, then the tests on the shared stack of tests/prefect_stack.py, whose processes (a Prefect
    server, a polling worker, the API and its reconciler) live until the session ends and would share
    the two CPUs with every later test."""

    def rank(item: pytest.Item) -> int:
        if "stack" in getattr(item, "fixturenames", ()):
            return 2
        return 1 if item.nodeid.startswith(OWN_STACK_TESTS) else 0

    items.sort(key=rank)  # stable: file order within each group


def _admin(statement: str) -> None:
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
        connection.execute(statement)


@pytest.fixture(scope="session")
def make_postgres_database() -> Iterator[Callable[[str], str]]:
    """Creates PostgreSQL databases private to this test session; drops them all at the end."""
    session_tag = uuid.uuid4().hex[:8]
    created: list[str] = []

    def make(purpose: str) -> str:
        name = f"exportflow_test_{session_tag}_{purpose}"
        _admin(f'CREATE DATABASE "{name}"')
        created.append(name)
        return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"

    yield make
    for name in created:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def duckdb_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Source:
    """A DuckDB demo warehouse with a few thousand rows, generated once per session."""
    from flows.demo_warehouse import generate_demo_data

    path: Path = tmp_path_factory.mktemp("warehouse") / "warehouse.duckdb"
    source = parse_source(str(path))
    generate_demo_data(source, rows=WAREHOUSE_ROWS)
    return source


@pytest.fixture(scope="session")
def postgres_warehouse(make_postgres_database: Callable[[str], str]) -> Source:
    """The same demo warehouse in a PostgreSQL database of this session."""
    from flows.demo_warehouse import generate_demo_data

    source = parse_source(make_postgres_database("warehouse"))
    generate_demo_data(source, rows=WAREHOUSE_ROWS)
    return source


@pytest.fixture(params=[SourceKind.DUCKDB, SourceKind.POSTGRESQL], ids=["duckdb", "postgresql"])
def warehouse(request: pytest.FixtureRequest) -> Source:
    """Each test using it runs once per source kind."""
    fixture = "duckdb_warehouse" if request.param is SourceKind.DUCKDB else "postgres_warehouse"
    source: Source = request.getfixturevalue(fixture)
    return source


@pytest.fixture(scope="session")
def sqlite_database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated SQLite app database for the session."""
    url = f"sqlite:///{tmp_path_factory.mktemp('appdb') / 'app.db'}"
    migrations.upgrade(url)
    return url


@pytest.fixture(scope="session")
def postgresql_database_url(make_postgres_database: Callable[[str], str]) -> str:
    """A migrated PostgreSQL app database for the session."""
    url = make_postgres_database("app")
    migrations.upgrade(url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test using it runs once on each app-database kind."""
    url: str = request.getfixturevalue(f"{request.param}_database_url")
    return url


@pytest.fixture(scope="session")
def engines() -> Iterator[dict[str, Engine]]:
    """Engines shared by the whole session, one per app database, disposed at the end."""
    cache: dict[str, Engine] = {}
    yield cache
    for engine in cache.values():
        engine.dispose()


@pytest.fixture
def db_engine(database_url: str, engines: dict[str, Engine]) -> Engine:
    if database_url not in engines:
        engines[database_url] = make_engine(database_url)
    return engines[database_url]


@pytest.fixture
def db_session(db_engine: Engine) -> Iterator[Session]:
    """A session inside a transaction rolled back after the test (commits become savepoints)."""
    with db_engine.connect() as connection:
        outer = connection.begin()
        session = Session(bind=connection, join_transaction_mode="create_savepoint")
        try:
            yield session
        finally:
            session.close()
            outer.rollback()


StageRows = Callable[..., Rows]


def rows_of(batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> Rows:
    """Rows a renderer reads, held in a list (so a test can read them again), exactly counted."""
    kept = list(batches)
    return Rows(schema, sum(batch.num_rows for batch in kept), kept)


@pytest.fixture
def stage_rows(tmp_path: Path, duckdb_warehouse: Source) -> StageRows:
    """An export type's rows from a warehouse (default: the DuckDB one), extracted the way the flow does."""

    def stage(
        export_type: ExportType | str,
        *,
        source: Source | None = None,
        columns: list[str] | None = None,
        filters: dict[str, object] | None = None,
        batch_rows: int = 1000,
    ) -> Rows:
        warehouse = source or duckdb_warehouse
        query = build_query(ExportType(export_type), dialect=warehouse.kind, columns=columns, filters=filters)
        return rows_of(stream_batches(warehouse, query, batch_rows), query.arrow_schema)

    return stage


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[str]:
    """One real Prefect API server (Prefect's test harness, SQLite) for the whole test session."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=240):
        yield str(PREFECT_API_URL.value())


@pytest.fixture
def fresh_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No EXPORTFLOW_* variable but EXPORTFLOW_HOME, an empty folder; the process settings and its
    app-database engine are read anew before and after the test."""
    from flows.appdb.engine import reset_app_sessions
    from flows.settings import get_settings

    for name in list(os.environ):
        if name.startswith("EXPORTFLOW_"):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    monkeypatch.setenv("EXPORTFLOW_HOME", str(home))
    get_settings.cache_clear()
    reset_app_sessions()
    yield home
    get_settings.cache_clear()
    reset_app_sessions()


@pytest.fixture
def exportflow_env(
    fresh_home: Path, monkeypatch: pytest.MonkeyPatch, database_url: str, duckdb_warehouse: Source
) -> Path:
    """EXPORTFLOW_* for code that reads the process settings (flows, CLI): this test's app database,
    the session's DuckDB warehouse, and storage, staging and outbox under a fresh HOME."""
    monkeypatch.setenv("EXPORTFLOW_DATABASE_URL", database_url)
    monkeypatch.setenv("EXPORTFLOW_SOURCE_URL", str(duckdb_warehouse.duckdb_path))
    return fresh_home
