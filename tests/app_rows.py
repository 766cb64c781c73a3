"""Export rows and their audit read from the app database in end-to-end tests (a plain module: no
fixtures, safe to import anywhere)."""

import time
import uuid
from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from flows.appdb.models import AuditLog, DataExport


def row_of(sessions: sessionmaker[Session], export_id: uuid.UUID) -> DataExport:
    with sessions() as session:
        return session.get_one(DataExport, export_id)


def wait_for_row(
    sessions: sessionmaker[Session], export_id: uuid.UUID, done: Callable[[DataExport], bool], timeout: float
) -> DataExport:
    """Poll the row every 0.1 s until `done` holds; fail with its attempt, status and error."""
    deadline = time.monotonic() + timeout
    while True:
        row = row_of(sessions, export_id)
        if done(row):
            return row
        if time.monotonic() > deadline:
            pytest.fail(
                f"export {export_id}: attempt {row.attempt} still {row.status} after {timeout:.0f} s "
                f"({row.error_message})"
            )
        time.sleep(0.1)


def audit_of(sessions: sessionmaker[Session], export_id: uuid.UUID, action: str) -> list[AuditLog]:
    """The export's audit entries of one action."""
    with sessions() as session:
        query = select(AuditLog).where(AuditLog.resource_id == str(export_id), AuditLog.action == action)
        return list(session.scalars(query))
