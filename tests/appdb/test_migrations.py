"""Migrations: empty SQLite and PostgreSQL databases upgrade, round-trip, and match the models; rows made
before a migration come through it as it intends."""

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import insert, inspect, select

from flows.appdb import migrations
from flows.appdb.engine import make_engine
from flows.appdb.models import Base, DataExport


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


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_exports_under_way_keep_a_slot_through_the_admission_migration(
    kind: str, tmp_path: Path, make_postgres_database: Callable[[str], str]
) -> None:
    url = _fresh_database(kind, tmp_path, make_postgres_database)
    migrations.upgrade(url, "0005")
    rows = {  # (status, flow run) of exports stored before 0006
        "processing": ("processing", uuid.uuid4()),
        "started": ("pending", uuid.uuid4()),
        "unstarted": ("pending", None),
        "completed": ("completed", uuid.uuid4()),
    }
    engine = make_engine(url)
    try:
        owner = uuid.uuid4()
        with engine.begin() as connection:  # only the columns named (and those with defaults): 0005's
            user = {"id": owner, "email": "before@example.com", "role": "admin"}
            connection.execute(insert(Base.metadata.tables["users"]).values(**user))
            for name, (status, flow_run_id) in rows.items():
                row = {"id": uuid.uuid4(), "export_name": name, "created_by": owner, "status": status}
                row |= {"export_type": "sales", "format": "csv", "flow_run_id": flow_run_id}
                connection.execute(insert(Base.metadata.tables["data_exports"]).values(**row))
        engine.dispose()

        migrations.upgrade(url)

        with engine.connect() as connection:
            admitted = connection.execute(
                select(DataExport.export_name).where(DataExport.admitted_at.is_not(None))
            ).scalars()
            assert set(admitted) == {"processing", "started"}
    finally:
        engine.dispose()
