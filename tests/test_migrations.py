"""Migrations: empty SQLite and PostgreSQL databases upgrade, round-trip, and match the models."""

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import inspect

from flows import migrate
from flows.db import make_engine
from flows.models import Base


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
    migrate.upgrade(url)
    assert migrate.current_revision(url) is not None
    assert _tables(url) == set(Base.metadata.tables)
    migrate.check(url)

    migrate.downgrade(url, "base")
    assert migrate.current_revision(url) is None
    assert _tables(url) == set()

    migrate.upgrade(url)
    migrate.check(url)
    assert _tables(url) == set(Base.metadata.tables)
