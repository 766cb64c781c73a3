"""Migrations: empty SQLite and PostgreSQL databases upgrade, round-trip, and match the models."""

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import inspect

from flows.appdb import migrations
from flows.appdb.engine import make_engine
from flows.appdb.models import Base


def _fresh_database(kind: str, tmp_path: Path, make_postgres_database: Callable[[str], str]) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'fresh.db'}"
    return make_postgres_database(f"migrations_{tmp_path.name[-8:].lower()}")


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_upgrade_round_trip_and_no_drift(
    kind: str, tmp_path: Path, make_postgres_database: Callable[[str], str]
) -> None:
    url = _fresh_database(kind, tmp_path, make_postgres_database)
    migrations.upgrade(url)
    assert migrations.current_revision(url) is not None
    assert _tables(url) == set(Base.metadata.tables)
    migrations.check(url)

    migrations.downgrade(url, "base")
    assert migrations.current_revision(url) is None
    assert _tables(url) == set()

    migrations.upgrade(url)
    migrations.check(url)
    assert _tables(url) == set(Base.metadata.tables)
